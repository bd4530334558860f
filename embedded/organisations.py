"""The organisations of the embedded mode: the demo's, by their part in its citizen's care, and the ones
among them whose own queues receive shared data (the embedded mode's sharing subscribers)."""

from __future__ import annotations

from infrastructure.resource_spec import SharingSubscriber

GP_YDERNUMMER = "123456"  # the treating GP practice, known by its ydernummer
MUNICIPALITY_SOR = "380431000016007"  # the municipality's home care: monitoring responsibility at first
HOSPITAL_SOR = "615171000016009"  # a region's hospital lung clinic: takes over monitoring
OTHER_REGION_SOR = "664141000016003"  # another region's hospital, with no relation to the demo's citizen
LOGISTICS_CENTRE_SOR = "265161000016009"
# The municipality's monitoring nurses the web app signs in as by default; the demo leaves its last citizen,
# with an open RED alarm, on their worklist.
NURSES_SOR = "328081000016008"

# Everyone who may have a relation to a citizen, and one who has none: a region's queue must receive its
# citizens' data and never another's. All read in the one local account (moto's).
SUBSCRIBERS = tuple(
    SharingSubscriber(organisation)
    for organisation in (GP_YDERNUMMER, MUNICIPALITY_SOR, HOSPITAL_SOR, OTHER_REGION_SOR)
)
