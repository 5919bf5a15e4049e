"""Custom signals: a user's function computes metrics from each side's rows; modeltap adds the
thresholds and breaches and stores the rows with the other signals' results."""
