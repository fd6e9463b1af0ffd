"""Route modules: each exposes a Powertools ``router``; functions compose the ones they serve."""
