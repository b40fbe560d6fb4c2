"""Live-AWS runbooks: one module per command on a shared base (``deploy.runbooks.base``)."""
