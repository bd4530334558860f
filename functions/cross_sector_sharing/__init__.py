"""Cross-sector sharing: evaluated uploads as FHIR R4 Bundles for regions and GPs (docs/sharing.md)."""
