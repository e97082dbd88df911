"""Pure rules shared by the engine and the auditor: encodings, hashing, money units.

Nothing here holds state or touches the network, so the auditor can use it without trusting the
engine's database.
"""
