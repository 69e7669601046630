"""Pure rules of ``reloader explain``: a report built from the views and plans the controllers use."""
