"""What the owner does to a hub (grant, revoke, forget, adopt...), carried out by the data files' one owner.

    hearth CLI ──> client.call(action) ──> control socket ──> running hub: actions on its writer threads
                                       └─> no hub running: the same actions on the files, under the lock

``actions`` holds every owner action once, written against the small ``OwnerHub`` protocol of ``owner``
(where ``RunningHub`` is the running hub's); ``server`` serves them on the hub's Unix socket; ``client``
has the ``OwnerHub`` of a command that found no hub.
"""
