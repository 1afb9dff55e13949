"""The transformer + normalizing-flow policy that proposes initial parameters."""
