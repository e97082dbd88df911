"""The real-history demo: a population of members, venues' fills reacting to a real price path, the real
engine settling on a real Anvil chain, and a self-contained HTML report (`crossclear demo`)."""
