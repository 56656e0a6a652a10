"""Metadata values as people read them: one camera name, human units for exposure, aperture and flash."""
