"""isoguard: the demo and simulation room: the simulated fleet, its file and Kafka writers, the demo launcher and the sample lake.

Nothing in the library layers imports from here."""
