"""Label handling that does not depend on Kedro: cleaning of label features."""
