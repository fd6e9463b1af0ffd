"""Evaluation: verification metrics, data-set readers, accuracy and speed reports."""
