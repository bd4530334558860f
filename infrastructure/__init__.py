"""The Telehub CDK app and the resource specification it shares with the embedded mode."""
