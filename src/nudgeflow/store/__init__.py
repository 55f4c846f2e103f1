"""The store: tables, connections and the set queries the engine runs on them."""
