// searchbench runs the same 1:N searches as `facepay bench face` with FAISS
// IndexFlatIP (exact) and hnswlib (approximate), one query at a time on one thread,
// as the Go side does, and prints JSON. Input (little-endian): int32 n, dim, nq, M,
// efConstruction, number of search efs; that many int32 efs; n*dim float32 rows;
// nq*dim float32 queries; nq int32 truths.
#include <faiss/IndexFlat.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <vector>

using clk = std::chrono::steady_clock;

static long rss_kb() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * 4;
}

struct Stats {
  double p50, p99, recall;
};

static Stats summarise(std::vector<double>& lat, int hits) {
  std::sort(lat.begin(), lat.end());
  size_t n = lat.size();
  return {lat[n / 2], lat[std::min(n - 1, n * 99 / 100)], double(hits) / n};
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: searchbench FILE\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  int32_t hdr[6];
  in.read(reinterpret_cast<char*>(hdr), sizeof hdr);
  int n = hdr[0], dim = hdr[1], nq = hdr[2], M = hdr[3], efc = hdr[4], nef = hdr[5];
  std::vector<int32_t> efs(nef);
  in.read(reinterpret_cast<char*>(efs.data()), nef * 4);
  std::vector<float> base(size_t(n) * dim), qs(size_t(nq) * dim);
  std::vector<int32_t> truth(nq);
  in.read(reinterpret_cast<char*>(base.data()), base.size() * 4);
  in.read(reinterpret_cast<char*>(qs.data()), qs.size() * 4);
  in.read(reinterpret_cast<char*>(truth.data()), truth.size() * 4);
  if (!in) {
    fprintf(stderr, "searchbench: short input\n");
    return 1;
  }
  omp_set_num_threads(1);

  long r0 = rss_kb();
  faiss::IndexFlatIP flat(dim);
  flat.add(n, base.data());
  long flatKB = rss_kb() - r0;
  std::vector<double> lat(nq);
  int hits = 0;
  for (int i = 0; i < nq; i++) {
    float d;
    faiss::Index::idx_t id;
    auto t = clk::now();
    flat.search(1, qs.data() + size_t(i) * dim, 1, &d, &id);
    lat[i] = std::chrono::duration<double, std::micro>(clk::now() - t).count();
    hits += id == truth[i];
  }
  Stats fs = summarise(lat, hits);

  r0 = rss_kb();
  hnswlib::InnerProductSpace space(dim);
  auto t0 = clk::now();
  hnswlib::HierarchicalNSW<float> g(&space, n, M, efc);
  for (int i = 0; i < n; i++) g.addPoint(base.data() + size_t(i) * dim, i);
  double buildS = std::chrono::duration<double>(clk::now() - t0).count();
  long hnswKB = rss_kb() - r0;
  printf("{\"faiss_flat\":{\"p50_us\":%.2f,\"p99_us\":%.2f,\"recall\":%.4f,\"mem_kb\":%ld},\"hnswlib\":[",
         fs.p50, fs.p99, fs.recall, flatKB);
  for (int e = 0; e < nef; e++) {
    g.setEf(efs[e]);
    hits = 0;
    for (int i = 0; i < nq; i++) {
      auto t = clk::now();
      auto res = g.searchKnn(qs.data() + size_t(i) * dim, 1);
      lat[i] = std::chrono::duration<double, std::micro>(clk::now() - t).count();
      hits += !res.empty() && int(res.top().second) == truth[i];
    }
    Stats hs = summarise(lat, hits);
    printf("%s{\"ef\":%d,\"p50_us\":%.2f,\"p99_us\":%.2f,\"recall\":%.4f,\"mem_kb\":%ld,\"build_s\":%.2f}",
           e ? "," : "", efs[e], hs.p50, hs.p99, hs.recall, hnswKB, buildS);
  }
  printf("]}\n");
  return 0;
}
