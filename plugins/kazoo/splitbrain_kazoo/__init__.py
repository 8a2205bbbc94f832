"""A splitbrain lock plug-in: kazoo's Lock recipe on the run's ZooKeeper ensemble."""
