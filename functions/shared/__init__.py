"""Code every Telehub feature uses: settings, errors, the API resolver, identifiers, codes."""
