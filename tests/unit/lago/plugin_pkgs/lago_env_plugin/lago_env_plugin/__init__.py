"""A test plugin shaped like the original's real ones (e.g. an oVirt
plugin): its own prefix, environment, paths and VM classes, and a verb."""
