"""The domain-free core: a plan of fingerprinted actions, the records of finished ones, and the executor.

Nothing here knows about Go, images or registries; those layers hand the engine ``Action``s whose ``Step``
says how to run them and how to check what a recorded run left behind.
"""
