"""Cross-banner promotion: members who shop one grocery banner or skip a partner, the categories they
would likely buy at the other banner and what an offer is expected to earn, plus how often comparable
members started there on their own. ``run`` alone reads and writes; ``activity`` and ``opportunities``
are pure."""
