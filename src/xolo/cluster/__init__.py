"""The cluster: peers, placement, replication, membership, and the background workers that keep
every chunk where placement says it belongs (GC, scrub, repair, rebalance)."""
