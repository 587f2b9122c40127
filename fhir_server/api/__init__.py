"""HTTP adapters only: content negotiation, headers and errors around the interactions."""
