"""The checkout blueprint: paying for a paid contract's order through CyberSource Secure Acceptance."""
