"""Backprop Grader: scoring, the HTTP service and the command line."""
