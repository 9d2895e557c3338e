"""Cold-chain logic of a fridge node: excursion timers that drive the local alarm."""
