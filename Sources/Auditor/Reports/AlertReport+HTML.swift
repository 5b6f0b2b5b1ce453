extension AlertReport {
    /// The report as one self-contained HTML page: inline CSS, an inline SVG chart, no
    /// script and no external resource, so it opens offline and in a mail attachment.
    public var html: String {
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>Alert \(Self.escape(rule)) at \(Self.escape(time))</title>
        <style>
        body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1d2330; }
        h1 { font-size: 1.5rem; margin-bottom: .2rem; }
        h2 { font-size: 1.1rem; margin-top: 1.8rem; border-bottom: 1px solid #d8dce4; padding-bottom: .2rem; }
        .kind { display: inline-block; background: #ffe3e0; color: #9b1c10; border-radius: 4px; padding: 0 .45rem; font-size: .85rem; }
        table { border-collapse: collapse; }
        th, td { text-align: left; padding: .25rem .8rem .25rem 0; vertical-align: top; }
        th { color: #5a6272; font-weight: 600; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace; }
        pre { background: #f4f6f9; padding: .8rem; overflow-x: auto; white-space: pre; border-radius: 4px; }
        svg { background: #fbfcfe; border: 1px solid #d8dce4; border-radius: 4px; max-width: 100%; height: auto; }
        .legend span { margin-right: 1.2rem; font-size: .85rem; }
        .sw { display: inline-block; width: 1.4rem; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: .3rem; }
        </style>
        </head>
        <body>
        <h1>Alert: \(Self.escape(rule)) <span class="kind">\(Self.escape(kind))</span></h1>

        """
        if !message.isEmpty { page += "<p>\(Self.escape(message))</p>\n" }
        page += "<table>\n"
        page += row("time", time)
        page += row("group", groupText)
        page += row("limit", ruleLimit)
        if let overflow { page += row("count", "\(overflow.count) between \(overflow.first) and \(overflow.last)") }
        if let anomaly {
            page += row("measure", "\(anomaly.measure) per \(anomaly.interval), interval from \(anomaly.intervalStart)")
            page += row("observed", "\(Self.number(anomaly.observed)) (mean \(Self.number(anomaly.mean)), σ \(Self.number(anomaly.sigma)), limit \(Self.number(anomaly.limit)))")
        }
        if let decision {
            page += row("decision", "\(decision.simulated ? "simulated " : "")ban of \(decision.value) (\(decision.scope)) for \(decision.duration) until \(decision.until), ban number \(decision.repeat)")
        }
        page += "</table>\n\n<h2>\(Self.escape(chart.unit)) against the limit</h2>\n"
        page += ChartDrawing(chart: chart).svg
        page += "<p class=\"legend\"><span><i class=\"sw\" style=\"border-color:#2458c6\"></i>\(Self.escape(chart.unit))</span>"
        page += "<span><i class=\"sw\" style=\"border-color:#d0321f;border-top-style:dashed\"></i>limit \(Self.number(chart.limit))</span>"
        if let mean = chart.mean {
            page += "<span><i class=\"sw\" style=\"border-color:#7d8699;border-top-style:dotted\"></i>mean \(Self.number(mean))</span>"
        }
        page += "</p>\n\n<h2>Top sources</h2>\n"
        if topSources.isEmpty {
            page += "<p>None among the recent events kept.</p>\n"
        } else {
            page += "<table>\n<tr><th>source</th><th>events</th></tr>\n"
            for source in topSources {
                page += "<tr><td><code>\(Self.escape(source.source))</code></td><td class=\"n\">\(source.events)</td></tr>\n"
            }
            page += "</table>\n"
        }
        page += "\n<h2>Sample events</h2>\n"
        if sampleEvents.isEmpty {
            page += "<p>None kept.</p>\n"
        } else {
            page += "<pre>" + sampleEvents.map(Self.escape).joined(separator: "\n") + "</pre>\n"
        }
        page += "</body>\n</html>\n"
        return page
    }

    private func row(_ name: String, _ value: String) -> String {
        "<tr><th>\(Self.escape(name))</th><td>\(Self.escape(value))</td></tr>\n"
    }

    /// Text safe in HTML and SVG element content and attribute values.
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}

/// The SVG of a chart: the measure as a line with dots, the limit dashed, the mean
/// dotted, time along the bottom.
struct ChartDrawing {
    let chart: AlertReport.Chart
    let width = 760.0, height = 280.0
    let left = 56.0, right = 16.0, top = 16.0, bottom = 40.0

    var svg: String {
        let points = chart.points
        let highest = max(points.map(\.value).max() ?? 0, chart.limit, chart.mean ?? 0, 1) * 1.12
        let first = points.first?.timeMs ?? 0, last = points.last?.timeMs ?? 0
        let span = Double(max(last - first, 1))
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func x(_ time: Int64) -> Double { points.count < 2 ? left + plotWidth / 2 : left + Double(time - first) / span * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - value / highest * plotHeight }
        func f(_ value: Double) -> String { JSONLine.format(value) }

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" "
            + "viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" aria-label=\"\(AlertReport.escape(chart.unit)) against the limit\">\n"
        svg += "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#5a6272\">\n"
        for step in 0...4 {
            let value = highest / 1.12 * Double(step) / 4
            let level = y(value)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(level))\" x2=\"\(f(width - right))\" y2=\"\(f(level))\" stroke=\"#e3e7ee\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(level + 4))\" text-anchor=\"end\">\(f(value))</text>\n"
        }
        if let firstPoint = points.first, let lastPoint = points.last {
            svg += "<text x=\"\(f(left))\" y=\"\(f(height - 14))\">\(AlertReport.escape(Self.clock(firstPoint.time)))</text>\n"
            if points.count > 1 {
                svg += "<text x=\"\(f(width - right))\" y=\"\(f(height - 14))\" text-anchor=\"end\">\(AlertReport.escape(Self.clock(lastPoint.time)))</text>\n"
            }
        }
        svg += "</g>\n"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotHeight))\" stroke=\"#9aa3b2\"/>"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(width - right))\" y2=\"\(f(top + plotHeight))\" stroke=\"#9aa3b2\"/>\n"
        if let mean = chart.mean {
            svg += "<line class=\"mean\" x1=\"\(f(left))\" y1=\"\(f(y(mean)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(mean)))\" "
                + "stroke=\"#7d8699\" stroke-width=\"2\" stroke-dasharray=\"2 4\"/>\n"
        }
        svg += "<line class=\"limit\" x1=\"\(f(left))\" y1=\"\(f(y(chart.limit)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(chart.limit)))\" "
            + "stroke=\"#d0321f\" stroke-width=\"2\" stroke-dasharray=\"8 5\"/>\n"
        if !points.isEmpty {
            let path = points.map { "\(f(x($0.timeMs))),\(f(y($0.value)))" }.joined(separator: " ")
            svg += "<polyline class=\"series\" fill=\"none\" stroke=\"#2458c6\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            if points.count <= 80 {
                for point in points {
                    let color = point.value > chart.limit || (point.value >= chart.limit && chart.mean == nil) ? "#d0321f" : "#2458c6"
                    svg += "<circle cx=\"\(f(x(point.timeMs)))\" cy=\"\(f(y(point.value)))\" r=\"3\" fill=\"\(color)\"/>"
                }
                svg += "\n"
            }
        } else {
            svg += "<text x=\"\(f(width / 2))\" y=\"\(f(height / 2))\" text-anchor=\"middle\" font-family=\"sans-serif\" "
                + "font-size=\"13\" fill=\"#5a6272\">no recent values kept</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// `HH:MM:SS` of an RFC 3339 time, or the text itself.
    static func clock(_ time: String) -> String {
        guard let t = time.firstIndex(of: "T") else { return time }
        return String(time[time.index(after: t)...].prefix(8)) + " UTC"
    }
}
