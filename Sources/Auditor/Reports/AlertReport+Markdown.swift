extension AlertReport {
    /// The report as Markdown: figures, top sources and sample events, for a ticket or chat.
    public var markdown: String {
        var text = "# Alert: \(Self.cell(rule))\n\n"
        if !message.isEmpty { text += "\(Self.cell(message))\n\n" }
        text += "| | |\n|---|---|\n"
        text += "| rule | `\(Self.cell(rule))` (\(kind)) |\n"
        text += "| time | \(time) |\n"
        text += "| group | \(Self.cell(groupText)) |\n"
        text += "| limit | \(Self.cell(ruleLimit)) |\n"
        if let overflow {
            text += "| count | \(overflow.count) between \(overflow.first) and \(overflow.last) |\n"
        }
        if let anomaly {
            text += "| measure | \(Self.cell(anomaly.measure)) per \(anomaly.interval), interval from \(anomaly.intervalStart) |\n"
            text += "| observed | \(Self.number(anomaly.observed)) (mean \(Self.number(anomaly.mean)), "
                + "σ \(Self.number(anomaly.sigma)), limit \(Self.number(anomaly.limit))) |\n"
        }
        if let decision {
            text += "| decision | \(decision.simulated ? "simulated " : "")ban of `\(Self.cell(decision.value))` (\(decision.scope)) "
                + "for \(decision.duration) until \(decision.until), ban number \(decision.repeat) |\n"
        }
        text += "\n## Chart: \(Self.cell(chart.unit))\n\n"
        if chart.points.isEmpty {
            text += "No recent values kept.\n"
        } else {
            let values = chart.points.map(\.value)
            text += "\(chart.points.count) values from \(chart.points.first!.time) to \(chart.points.last!.time), "
                + "highest \(Self.number(values.max()!)); limit \(Self.number(chart.limit))"
            if let mean = chart.mean { text += ", mean \(Self.number(mean))" }
            text += ". The HTML report draws them.\n"
        }
        text += "\n## Top sources\n\n"
        if topSources.isEmpty {
            text += "None among the recent events kept.\n"
        } else {
            text += "| source | events |\n|---|---|\n"
            for source in topSources { text += "| `\(Self.cell(source.source))` | \(source.events) |\n" }
        }
        text += "\n## Sample events\n\n"
        if sampleEvents.isEmpty {
            text += "None kept.\n"
        } else {
            let fence = String(repeating: "`", count: max(3, Self.longestBacktickRun(sampleEvents) + 1))
            text += fence + "json\n" + sampleEvents.joined(separator: "\n") + "\n" + fence + "\n"
        }
        return text
    }

    /// Text for a table cell: no line breaks, pipes escaped.
    static func cell(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "|": result += "\\|"
            case "\n", "\r": result += " "
            case "`": result += "'"
            default: result.append(character)
            }
        }
        return result
    }

    static func number(_ value: Double) -> String { JSONLine.format(value) }

    private static func longestBacktickRun(_ lines: [String]) -> Int {
        var longest = 0
        for line in lines {
            var run = 0
            for byte in line.utf8 {
                run = byte == UInt8(ascii: "`") ? run + 1 : 0
                longest = max(longest, run)
            }
        }
        return longest
    }
}
