/// `kind: threshold` — fires when `count` events of one group fall within `window`.
final class SlidingWindowCounter: Detector {
    /// A group's timestamps in arrival order: the only one inline (most groups hold one),
    /// more in a ring borrowed from `Groups.pools`, which doubles as the group fills (the
    /// window never holds `count`: it fires then and starts afresh).
    private struct Group {
        var latest: Int64 = .min
        var single: Int64 = 0
        var ring: Int32 = -1
        var head: Int32 = 0
        var held: Int32 = 0
        /// The ring holds `2 << ringClass` timestamps.
        var ringClass: UInt8 = 0
    }

    /// Rings of one size, ring `r` at `r * size`.
    private struct RingPool {
        var slots: [Int64] = []
        var free: [Int32] = []
    }

    /// Everything mutable, in one struct: one exclusive access per event rather than one
    /// per property of the class.
    private struct Groups {
        let count: Int
        let window: Int64
        var keys = GroupKeys()
        var table = GroupTable<Group>()
        var pools: [RingPool] = []

        mutating func observe(_ group: GroupKey, at time: Int64) -> Observation {
            let position = table.insert(group, fresh: Group())
            var state = table[position]
            let observation = add(time, to: &state)
            table[position] = state
            return observation
        }

        private mutating func add(_ time: Int64, to group: inout Group) -> Observation {
            group.latest = max(group.latest, time)
            append(time, to: &group)
            // Events may arrive a few seconds out of order: the window ends at the latest
            // time seen, and a late event still counts if it is inside it.
            let horizon = group.latest - window
            while group.held > 0, timestamp(0, of: group) <= horizon { removeOldest(of: &group) }
            guard group.held >= count else { return Observation(level: Double(group.held)) }
            var first = timestamp(0, of: group)
            for offset in 1..<Int(group.held) { first = min(first, timestamp(offset, of: group)) }
            let overflow = Overflow(count: Int(group.held), first: first, last: group.latest)
            release(&group)
            return Observation(level: Double(overflow.count), overflow: overflow)
        }

        private mutating func append(_ time: Int64, to group: inout Group) {
            if group.held == 0 {
                group.single = time
                group.held = 1
                return
            }
            if group.ring < 0 {
                group.ringClass = 0
                group.ring = borrowRing(0)
                group.head = 0
                pools[0].slots[Int(group.ring) * 2] = group.single
            } else if Int(group.held) == 2 << group.ringClass {
                let larger = group.ringClass + 1
                let ring = borrowRing(larger)
                let base = Int(ring) * (2 << larger)
                for offset in 0..<Int(group.held) { pools[Int(larger)].slots[base + offset] = timestamp(offset, of: group) }
                pools[Int(group.ringClass)].free.append(group.ring)
                group.ring = ring
                group.ringClass = larger
                group.head = 0
            }
            pools[Int(group.ringClass)].slots[slot(Int(group.held), of: group)] = time
            group.held += 1
        }

        private func slot(_ offset: Int, of group: Group) -> Int {
            let size = 2 << group.ringClass
            return Int(group.ring) * size + ((Int(group.head) + offset) & (size - 1))
        }

        private func timestamp(_ offset: Int, of group: Group) -> Int64 {
            group.ring < 0 ? group.single : pools[Int(group.ringClass)].slots[slot(offset, of: group)]
        }

        private mutating func removeOldest(of group: inout Group) {
            group.held -= 1
            if group.held == 0 {
                release(&group)
            } else {
                group.head = (group.head + 1) & Int32((2 << group.ringClass) - 1)
            }
        }

        private mutating func borrowRing(_ ringClass: UInt8) -> Int32 {
            while pools.count <= Int(ringClass) { pools.append(RingPool()) }
            if let ring = pools[Int(ringClass)].free.popLast() { return ring }
            let size = 2 << ringClass
            let ring = Int32(pools[Int(ringClass)].slots.count / size)
            pools[Int(ringClass)].slots.append(contentsOf: repeatElement(0, count: size))
            return ring
        }

        private mutating func release(_ group: inout Group) {
            if group.ring >= 0 { pools[Int(group.ringClass)].free.append(group.ring) }
            group.ring = -1
            group.head = 0
            group.held = 0
        }

        mutating func forgetIdle(now: Int64) {
            let horizon = now - window
            var freed: [(ring: Int32, ringClass: UInt8)] = []
            table.removeAll(where: { $1.latest <= horizon || $1.held == 0 }, dropped: { group in
                if group.ring >= 0 { freed.append((group.ring, group.ringClass)) }
            })
            for (ring, ringClass) in freed { pools[Int(ringClass)].free.append(ring) }
            if keys.hasNumbers { keys.forget(keeping: table.numberedKeys) }
            for ringClass in pools.indices where pools[ringClass].free.count * (2 << ringClass) == pools[ringClass].slots.count {
                pools[ringClass] = RingPool()
            }
        }
    }

    let count: Int
    let window: Int64
    // Unchecked: a detector is confined to the engine that owns it, which never reenters it;
    // the dynamic exclusivity check was a visible share of every event.
    @exclusivity(unchecked) private var groups: Groups

    init(count: Int, windowMilliseconds: Int64) {
        self.count = count
        self.window = windowMilliseconds
        self.groups = Groups(count: count, window: windowMilliseconds)
    }

    func key(for text: UnsafeBufferPointer<UInt8>) -> GroupKey {
        groups.keys.key(for: text)
    }

    func observe(group: GroupKey, value: GroupKey?, at time: Int64) -> Observation {
        groups.observe(group, at: time)
    }

    func forgetIdle(now: Int64) {
        groups.forgetIdle(now: now)
    }

    var groupCount: Int { groups.table.count }
}
