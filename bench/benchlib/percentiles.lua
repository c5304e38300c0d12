-- wrk's done() hook: prints the latency distribution's tail, which wrk's
-- --latency table stops short of (it ends at 99 %). Only done() is defined,
-- so wrk keeps sending its one prebuilt request: the hook costs nothing per
-- request.
done = function(summary, latency, requests)
  for _, p in ipairs({50, 90, 99, 99.9, 99.99}) do
    io.write(string.format("percentile %g %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("latency mean %d stdev %d max %d\n", latency.mean, latency.stdev, latency.max))
end
