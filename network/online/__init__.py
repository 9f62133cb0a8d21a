"""Online learning: one teach at a time, with replay, and the policies that guard it."""
