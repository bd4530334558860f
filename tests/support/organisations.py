"""The organisations the tests act for (15-digit SOR codes), named by their part in the sample
referral: one name per code and one code per name, in every tier."""

from __future__ import annotations

TREATING = "123456789012345"  # refers the citizen: the sample referral's treating organisation
MONITORING = "234567890123456"  # monitors the episode until it hands it over
CENTRE = "345678901234567"  # the logistics centre: delivers, registers, revokes and collects devices
HOSPITAL = "456789012345678"  # another hospital, which may be offered the monitoring
OTHER = "567890123456789"  # an organisation with no part in the episode
