"""End-to-end tests of the scoring server over real HTTP on loopback."""
