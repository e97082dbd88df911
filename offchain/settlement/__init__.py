"""Settlement: from acknowledged fills and marks to a netted, signed batch applied on-chain, restart-safe."""
