"""logad.sources"""
