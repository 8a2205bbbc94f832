//! splitbrain-reports renders a run as a self-contained HTML page: the verdict, the
//! configuration and seed, per-process timelines drawn with plotters, nemesis intervals
//! shaded, and each violation explained.
