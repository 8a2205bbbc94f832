"""A splitbrain lock plug-in: pottery's Redlock over the run's independent Redis primaries."""
