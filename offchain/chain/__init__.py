"""The chain layer: artefacts, a local Anvil, signing keys and the web3.py vault client."""
