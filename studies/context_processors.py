from .access import Role, primary_role, roles_of


def role(request) -> dict:
    """The signed-in user's roles, for navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": frozenset(), "user_role": None, "Role": Role}
    return {"user_roles": roles_of(user), "user_role": primary_role(user), "Role": Role}
