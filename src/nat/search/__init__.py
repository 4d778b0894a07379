"""NAT's search and inference: the supernet, rewards, REINFORCE, Algorithm 1 (``trainer``), and how
a trained policy transforms an architecture (``transform``, with ``selection``, ``refine`` and
the supernet ``ensemble`` that judges candidates).

Nothing is imported here: ``nat search --help`` and ``import nat.search.config`` stay light.
"""
