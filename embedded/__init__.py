"""The embedded mode: the whole of Telehub on one laptop, on a moto server, with no AWS account."""
