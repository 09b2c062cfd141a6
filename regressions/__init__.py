import golden  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads, see golden/__init__.py)
