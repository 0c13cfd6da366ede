"""Power outages as an input: the adapter a deployment plugs its utility's outage list into."""
