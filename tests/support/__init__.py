"""What the tests share: fakes of the servers ChatLens talks to, the launched app, browser steps, seeds.

Test modules and benchmarks import from here, never from each other.
"""
