"""The README shows and links only what the repository holds: every image and relative link
points at a file in it, and it names no document kept outside (DESIGN.md lives beside the
repository, not in it)."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_image_and_relative_link_in_the_readme_exists():
    targets = re.findall(r'src="([^"]+)"', README) + re.findall(r"\]\(([^)\s]+)\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+:|#", t)]
    assert any(t.startswith("docs/screenshots/") for t in local)
    missing = [t for t in local if not (ROOT / t.split("#")[0]).is_file()]
    assert missing == []


def test_the_readme_names_no_document_outside_the_repository():
    for name in re.findall(r"\b[\w./-]+\.md\b", README):
        assert (ROOT / name).is_file() or name == "README.md", name
