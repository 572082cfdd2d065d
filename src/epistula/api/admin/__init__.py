"""The Admin API (``/v1/organizations/...``): keys, workspaces, members, usage and cost."""
