"""phiwall."""
