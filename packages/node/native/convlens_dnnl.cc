// convlens's native CPU kernels: oneDNN convolutions and matmuls run in place on Float32Array
// views of the wasm backend's heap (no copies in or out). Loaded by packages/node/src/engine/native.ts,
// which builds this file with one g++ command on first use.
//
// Every function takes its operands as Float32Arrays and its geometry as an Int32Array; primitives
// are cached by geometry because creating one (JIT code generation) costs far more than running it.
// User memory is always plain: NHWC activations, HWIO ([kh,kw,in,out]) filters, row-major matrices.
// Convolutions let oneDNN pick its own weight layout (plain HWIO sends AVX-512 machines to slower
// kernels) and reorder the small filters around the call; activations stay NHWC, which its
// brgemm/jit kernels read directly.

#include <node_api.h>

#include <dnnl.hpp>

#include <omp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

engine& cpu() {
  static engine e(engine::kind::cpu, 0);
  return e;
}

// One stream per thread: Node workers may call in concurrently; primitives are thread-safe.
stream& strm() {
  thread_local stream s(cpu());
  return s;
}

// An operand the primitive may want in another layout than the user's: `inner` is allocated once
// and a reorder converts between it and the user's buffer around each call.
struct Arg {
  int key;            // DNNL_ARG_*
  memory::desc user;  // the layout of the Float32Array passed in
  memory::desc want;  // the layout the primitive was built for
  bool input;         // reorder user → inner before, else inner → user after
  int threads = 1;    // for the reorder: a memory-bound copy, one thread unless it is large
  std::shared_ptr<memory> inner;
  std::shared_ptr<reorder> conv;
};

struct Op {
  int threads = 1;  // OpenMP threads it was built for and runs on
  std::unique_ptr<primitive> prim;
  std::vector<Arg> args;
  std::unique_ptr<memory> scratch;
  std::string impl;
};

std::mutex cache_mutex;
std::unordered_map<std::string, std::unique_ptr<Op>> cache;

// Threads for an op of `macs` multiply-adds: small ops run on one, because a parallel region waits
// for its slowest thread, and on a busy machine a descheduled one costs milliseconds.
const double MACS_PER_THREAD = 2e6;
int max_threads = omp_get_max_threads();  // OMP_NUM_THREADS, else every core; see setThreads
int threads_for(double macs) {
  int t = static_cast<int>(macs / MACS_PER_THREAD);
  return t < 1 ? 1 : t > max_threads ? max_threads : t;
}

// Sets the calling thread's OpenMP team size for a scope (oneDNN reads it when it builds a
// primitive, to split the work, and when it runs one).
struct ThreadScope {
  int saved;
  explicit ThreadScope(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadScope() { omp_set_num_threads(saved); }
};

// Finishes an Op from its primitive descriptor: arguments whose layout differs get an inner buffer
// and a reorder, and a scratchpad is allocated once (user-managed, so calls don't allocate).
template <typename PD>
void finish(Op& op, const PD& pd, std::vector<Arg> args) {
  for (auto& a : args) {
    a.want = pd.query_md(query::exec_arg_md, a.key);
    if (a.want != a.user) {
      a.threads = threads_for(a.want.get_size() / 4.0 / 16);
      ThreadScope scope(a.threads);
      a.inner = std::make_shared<memory>(a.want, cpu());
      a.conv = a.input ? std::make_shared<reorder>(reorder::primitive_desc(cpu(), a.user, cpu(), a.want))
                       : std::make_shared<reorder>(reorder::primitive_desc(cpu(), a.want, cpu(), a.user));
    }
  }
  op.scratch = std::make_unique<memory>(pd.scratchpad_desc(), cpu());
  op.impl = pd.impl_info_str();
  op.args = std::move(args);
}

// Runs an Op on the given user pointers (one per Arg, same order).
void run(Op& op, const std::vector<void*>& ptrs) {
  ThreadScope scope(op.threads);
  auto& s = strm();
  std::unordered_map<int, memory> exec{{DNNL_ARG_SCRATCHPAD, *op.scratch}};
  std::vector<std::pair<Arg*, memory>> after;
  for (size_t i = 0; i < op.args.size(); i++) {
    Arg& a = op.args[i];
    memory u(a.user, cpu(), ptrs[i]);
    if (!a.inner) {
      exec.insert({a.key, u});
    } else {
      if (a.input) {
        ThreadScope reorder_scope(a.threads);
        a.conv->execute(s, u, *a.inner);
      } else {
        after.push_back({&a, u});
      }
      exec.insert({a.key, *a.inner});
    }
  }
  op.prim->execute(s, exec);
  for (auto& [a, u] : after) {
    ThreadScope reorder_scope(a->threads);
    a->conv->execute(s, *a->inner, u);
  }
  s.wait();
}

// ---- N-API plumbing -------------------------------------------------------------------------------

struct JsError {
  std::string message;
};

float* f32(napi_env env, napi_value v, size_t need, const char* what) {
  napi_valuetype vt;
  napi_typeof(env, v, &vt);
  if (vt == napi_null || vt == napi_undefined) return nullptr;
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float32_array)
    throw JsError{std::string(what) + ": expected a Float32Array"};
  if (length < need) throw JsError{std::string(what) + ": Float32Array too short"};
  return static_cast<float*>(data);
}

std::vector<int> ints(napi_env env, napi_value v) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_int32_array)
    throw JsError{"geometry: expected an Int32Array"};
  auto* p = static_cast<int32_t*>(data);
  return std::vector<int>(p, p + length);
}

std::string key_of(const char* kind, const std::vector<int>& d) {
  std::string k(kind);
  for (int x : d) k += ',' + std::to_string(x);
  return k;
}

template <typename F>
napi_value guarded(napi_env env, napi_callback_info info, size_t argc, F body) {
  std::vector<napi_value> argv(argc);
  size_t got = argc;
  napi_get_cb_info(env, info, &got, argv.data(), nullptr, nullptr);
  try {
    if (got < argc) throw JsError{"too few arguments"};
    return body(argv);
  } catch (const JsError& e) {
    napi_throw_error(env, nullptr, e.message.c_str());
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

napi_value str(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}

// ---- convolutions ---------------------------------------------------------------------------------

// Geometry: N, H, W, CI, KH, KW, CO, OH, OW, SH, SW, PT, PL, PB, PR [, bias, relu] (forward only).
struct ConvGeom {
  memory::dim n, h, w, ci, kh, kw, co, oh, ow, sh, sw, pt, pl, pb, pr;
  explicit ConvGeom(const std::vector<int>& d) {
    if (d.size() < 15) throw JsError{"conv geometry: 15 values expected"};
    n = d[0], h = d[1], w = d[2], ci = d[3], kh = d[4], kw = d[5], co = d[6], oh = d[7], ow = d[8];
    sh = d[9], sw = d[10], pt = d[11], pl = d[12], pb = d[13], pr = d[14];
  }
  memory::desc src(tag t = tag::nhwc) const { return {{n, ci, h, w}, dt::f32, t}; }
  memory::desc wei(tag t = tag::hwio) const { return {{co, ci, kh, kw}, dt::f32, t}; }
  memory::desc dst(tag t = tag::nhwc) const { return {{n, co, oh, ow}, dt::f32, t}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims padl() const { return {pt, pl}; }
  memory::dims padr() const { return {pb, pr}; }
  size_t nsrc() const { return n * h * w * ci; }
  size_t nwei() const { return kh * kw * ci * co; }
  size_t ndst() const { return n * oh * ow * co; }
  double macs() const { return double(ndst()) * kh * kw * ci; }
};

// Activations in NHWC as given; weights in whatever layout oneDNN prefers.
// Fused activation codes shared with native-kernels.ts: 0 none, 1 relu, 2 relu6 (MobileNet).
void append_activation(primitive_attr& attr, int act) {
  if (act == 0) return;
  post_ops po;
  if (act == 2) po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
  else po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
  attr.set_post_ops(po);
}

convolution_forward::primitive_desc fwd_pd(const ConvGeom& g, prop_kind pk, bool bias, int act) {
  auto d = bias ? convolution_forward::desc(pk, algorithm::convolution_direct, g.src(), g.wei(tag::any),
                                            memory::desc({g.co}, dt::f32, tag::a), g.dst(), g.strides(),
                                            g.padl(), g.padr())
                : convolution_forward::desc(pk, algorithm::convolution_direct, g.src(), g.wei(tag::any),
                                            g.dst(), g.strides(), g.padl(), g.padr());
  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);
  append_activation(attr, act);
  return convolution_forward::primitive_desc(d, attr, cpu());
}

// Primitives are built for a thread count, so it is part of the key.
Op& cached(const std::string& shape_key, double macs, const std::function<void(Op&)>& make) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  int threads = threads_for(macs);
  std::string key = shape_key + "@" + std::to_string(threads);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto op = std::make_unique<Op>();
  op->threads = threads;
  ThreadScope scope(op->threads);
  make(*op);
  return *cache.emplace(key, std::move(op)).first->second;
}

// conv2d(x, w, bias | null, y, geometry[17]) → implementation name
napi_value conv2d(napi_env env, napi_callback_info info) {
  return guarded(env, info, 5, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[4]);
    ConvGeom g(d);
    bool bias = d.size() > 15 && d[15];
    int act = d.size() > 16 ? d[16] : 0;
    float* x = f32(env, a[0], g.nsrc(), "x");
    float* w = f32(env, a[1], g.nwei(), "filter");
    float* b = bias ? f32(env, a[2], g.co, "bias") : nullptr;
    float* y = f32(env, a[3], g.ndst(), "y");
    Op& op = cached(key_of("conv", d), g.macs(), [&](Op& op) {
      auto pd = fwd_pd(g, prop_kind::forward_inference, bias, act);
      op.prim = std::make_unique<convolution_forward>(pd);
      std::vector<Arg> args;
      args.push_back({DNNL_ARG_SRC, g.src(), {}, true});
      args.push_back({DNNL_ARG_WEIGHTS, g.wei(), {}, true});
      if (bias) args.push_back({DNNL_ARG_BIAS, memory::desc({g.co}, dt::f32, tag::a), {}, true});
      args.push_back({DNNL_ARG_DST, g.dst(), {}, false});
      finish(op, pd, std::move(args));
    });
    std::vector<void*> ptrs{x, w};
    if (bias) ptrs.push_back(b);
    ptrs.push_back(y);
    run(op, ptrs);
    return str(env, op.impl);
  });
}

// depthwise2d(x, w, bias | null, y, geometry[17]): the conv geometry with CO = CI·multiplier and
// tfjs's [KH, KW, CI, multiplier] filter, run as a grouped convolution (one group per input channel).
napi_value depthwise2d(napi_env env, napi_callback_info info) {
  return guarded(env, info, 5, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[4]);
    ConvGeom g(d);
    if (g.ci <= 0 || g.co % g.ci != 0) throw JsError{"depthwise: output channels must be a multiple of input channels"};
    bool bias = d.size() > 15 && d[15];
    int act = d.size() > 16 ? d[16] : 0;
    memory::dim groups = g.ci, mult = g.co / g.ci;
    float* x = f32(env, a[0], g.nsrc(), "x");
    float* w = f32(env, a[1], g.kh * g.kw * g.co, "filter");
    float* b = bias ? f32(env, a[2], g.co, "bias") : nullptr;
    float* y = f32(env, a[3], g.ndst(), "y");
    // tfjs's filter seen as oneDNN's grouped weights (g, o, i, h, w), i of size 1: strides mult, 1, ·, KW·CO, CO.
    memory::desc wuser({groups, mult, 1, g.kh, g.kw}, dt::f32, memory::dims{mult, 1, 1, g.kw * g.co, g.co});
    memory::desc wany({groups, mult, 1, g.kh, g.kw}, dt::f32, tag::any);
    memory::desc bmd({g.co}, dt::f32, tag::a);
    Op& op = cached(key_of("dw", d), double(g.ndst()) * g.kh * g.kw, [&](Op& op) {
      auto cd = bias ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct,
                                                 g.src(), wany, bmd, g.dst(), g.strides(), g.padl(), g.padr())
                     : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct,
                                                 g.src(), wany, g.dst(), g.strides(), g.padl(), g.padr());
      primitive_attr attr;
      attr.set_scratchpad_mode(scratchpad_mode::user);
      append_activation(attr, act);
      auto pd = convolution_forward::primitive_desc(cd, attr, cpu());
      op.prim = std::make_unique<convolution_forward>(pd);
      std::vector<Arg> args;
      args.push_back({DNNL_ARG_SRC, g.src(), {}, true});
      args.push_back({DNNL_ARG_WEIGHTS, wuser, {}, true});
      if (bias) args.push_back({DNNL_ARG_BIAS, bmd, {}, true});
      args.push_back({DNNL_ARG_DST, g.dst(), {}, false});
      finish(op, pd, std::move(args));
    });
    std::vector<void*> ptrs{x, w};
    if (bias) ptrs.push_back(b);
    ptrs.push_back(y);
    run(op, ptrs);
    return str(env, op.impl);
  });
}

// Depthwise backprops: the forward's grouped view of tfjs's [KH, KW, CI, multiplier] filter.
struct DwDescs {
  memory::dim groups, mult;
  memory::desc wuser, wany;
  explicit DwDescs(const ConvGeom& g) {
    if (g.ci <= 0 || g.co % g.ci != 0) throw JsError{"depthwise: output channels must be a multiple of input channels"};
    groups = g.ci, mult = g.co / g.ci;
    wuser = memory::desc({groups, mult, 1, g.kh, g.kw}, dt::f32, memory::dims{mult, 1, 1, g.kw * g.co, g.co});
    wany = memory::desc({groups, mult, 1, g.kh, g.kw}, dt::f32, tag::any);
  }
  convolution_forward::primitive_desc hint(const ConvGeom& g) const {
    return convolution_forward::primitive_desc(
        convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, g.src(), wany, g.dst(),
                                  g.strides(), g.padl(), g.padr()),
        cpu());
  }
};

// depthwiseBackpropInput(dy, w, dx, geometry[15])
napi_value depthwise_backprop_input(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[3]);
    ConvGeom g(d);
    DwDescs dw(g);
    float* dy = f32(env, a[0], g.ndst(), "dy");
    float* w = f32(env, a[1], g.kh * g.kw * g.co, "filter");
    float* dx = f32(env, a[2], g.nsrc(), "dx");
    Op& op = cached(key_of("dwbwdd", d), double(g.ndst()) * g.kh * g.kw, [&](Op& op) {
      auto bd = convolution_backward_data::desc(algorithm::convolution_direct, g.src(), dw.wany, g.dst(), g.strides(),
                                                g.padl(), g.padr());
      primitive_attr attr;
      attr.set_scratchpad_mode(scratchpad_mode::user);
      auto pd = convolution_backward_data::primitive_desc(bd, attr, cpu(), dw.hint(g));
      op.prim = std::make_unique<convolution_backward_data>(pd);
      finish(op, pd,
             {{DNNL_ARG_DIFF_DST, g.dst(), {}, true},
              {DNNL_ARG_WEIGHTS, dw.wuser, {}, true},
              {DNNL_ARG_DIFF_SRC, g.src(), {}, false}});
    });
    run(op, {dy, w, dx});
    return str(env, op.impl);
  });
}

// depthwiseBackpropFilter(x, dy, dw, geometry[15])
napi_value depthwise_backprop_filter(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[3]);
    ConvGeom g(d);
    DwDescs dw(g);
    float* x = f32(env, a[0], g.nsrc(), "x");
    float* dy = f32(env, a[1], g.ndst(), "dy");
    float* dwp = f32(env, a[2], g.kh * g.kw * g.co, "dw");
    Op& op = cached(key_of("dwbwdw", d), double(g.ndst()) * g.kh * g.kw, [&](Op& op) {
      auto bd = convolution_backward_weights::desc(algorithm::convolution_direct, g.src(), dw.wany, g.dst(),
                                                   g.strides(), g.padl(), g.padr());
      primitive_attr attr;
      attr.set_scratchpad_mode(scratchpad_mode::user);
      auto pd = convolution_backward_weights::primitive_desc(bd, attr, cpu(), dw.hint(g));
      op.prim = std::make_unique<convolution_backward_weights>(pd);
      finish(op, pd,
             {{DNNL_ARG_SRC, g.src(), {}, true},
              {DNNL_ARG_DIFF_DST, g.dst(), {}, true},
              {DNNL_ARG_DIFF_WEIGHTS, dw.wuser, {}, false}});
    });
    run(op, {x, dy, dwp});
    return str(env, op.impl);
  });
}

// conv2dBackpropFilter(x, dy, dw, geometry[15])
napi_value conv2d_backprop_filter(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[3]);
    ConvGeom g(d);
    float* x = f32(env, a[0], g.nsrc(), "x");
    float* dy = f32(env, a[1], g.ndst(), "dy");
    float* dw = f32(env, a[2], g.nwei(), "dw");
    Op& op = cached(key_of("bwdw", d), g.macs(), [&](Op& op) {
      auto hint = fwd_pd(g, prop_kind::forward_training, false, false);
      auto bd = convolution_backward_weights::desc(algorithm::convolution_direct, g.src(), g.wei(tag::any),
                                                   g.dst(), g.strides(), g.padl(), g.padr());
      primitive_attr attr;
      attr.set_scratchpad_mode(scratchpad_mode::user);
      auto pd = convolution_backward_weights::primitive_desc(bd, attr, cpu(), hint);
      op.prim = std::make_unique<convolution_backward_weights>(pd);
      finish(op, pd,
             {{DNNL_ARG_SRC, g.src(), {}, true},
              {DNNL_ARG_DIFF_DST, g.dst(), {}, true},
              {DNNL_ARG_DIFF_WEIGHTS, g.wei(), {}, false}});
    });
    run(op, {x, dy, dw});
    return str(env, op.impl);
  });
}

// conv2dBackpropInput(dy, w, dx, geometry[15])
napi_value conv2d_backprop_input(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[3]);
    ConvGeom g(d);
    float* dy = f32(env, a[0], g.ndst(), "dy");
    float* w = f32(env, a[1], g.nwei(), "filter");
    float* dx = f32(env, a[2], g.nsrc(), "dx");
    Op& op = cached(key_of("bwdd", d), g.macs(), [&](Op& op) {
      auto hint = fwd_pd(g, prop_kind::forward_training, false, false);
      auto bd = convolution_backward_data::desc(algorithm::convolution_direct, g.src(), g.wei(tag::any),
                                                g.dst(), g.strides(), g.padl(), g.padr());
      primitive_attr attr;
      attr.set_scratchpad_mode(scratchpad_mode::user);
      auto pd = convolution_backward_data::primitive_desc(bd, attr, cpu(), hint);
      op.prim = std::make_unique<convolution_backward_data>(pd);
      finish(op, pd,
             {{DNNL_ARG_DIFF_DST, g.dst(), {}, true},
              {DNNL_ARG_WEIGHTS, g.wei(), {}, true},
              {DNNL_ARG_DIFF_SRC, g.src(), {}, false}});
    });
    run(op, {dy, w, dx});
    return str(env, op.impl);
  });
}

// ---- matmul ---------------------------------------------------------------------------------------

// matmul(a, b, bias | null, c, geometry[8]): geometry = batchA, batchB, M, K, N, transposeA,
// transposeB, flags (1: bias of N values, 2: relu, 4: relu6). A is [batchA, M, K] (or [batchA, K, M] when
// transposed), B is [batchB, K, N] (or [batchB, N, K]); batches of 1 broadcast. C is [max batch, M, N].
napi_value matmul_fn(napi_env env, napi_callback_info info) {
  return guarded(env, info, 5, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[4]);
    if (d.size() < 8) throw JsError{"matmul geometry: 8 values expected"};
    memory::dim ba = d[0], bb = d[1], m = d[2], k = d[3], n = d[4];
    bool ta = d[5], tb = d[6], bias = d[7] & 1;
    int act = (d[7] & 4) ? 2 : (d[7] & 2) ? 1 : 0;
    memory::dim bc = ba > bb ? ba : bb;
    float* pa = f32(env, a[0], ba * m * k, "a");
    float* pb = f32(env, a[1], bb * k * n, "b");
    float* pbias = bias ? f32(env, a[2], n, "bias") : nullptr;
    float* pc = f32(env, a[3], bc * m * n, "c");
    memory::desc amd({ba, m, k}, dt::f32, ta ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
    memory::desc bmd({bb, k, n}, dt::f32, tb ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
    memory::desc cmd({bc, m, n}, dt::f32, memory::dims{m * n, n, 1});
    memory::desc biasmd({1, 1, n}, dt::f32, memory::dims{n, n, 1});
    Op& op = cached(key_of("matmul", d), double(bc) * m * n * k, [&](Op& op) {
      primitive_attr attr;
      attr.set_scratchpad_mode(scratchpad_mode::user);
      append_activation(attr, act);
      auto md = bias ? matmul::desc(amd, bmd, biasmd, cmd) : matmul::desc(amd, bmd, cmd);
      auto pd = matmul::primitive_desc(md, attr, cpu());
      op.prim = std::make_unique<matmul>(pd);
      std::vector<Arg> args;
      args.push_back({DNNL_ARG_SRC, amd, {}, true});
      args.push_back({DNNL_ARG_WEIGHTS, bmd, {}, true});
      if (bias) args.push_back({DNNL_ARG_BIAS, biasmd, {}, true});
      args.push_back({DNNL_ARG_DST, cmd, {}, false});
      finish(op, pd, std::move(args));
    });
    std::vector<void*> ptrs{pa, pb};
    if (bias) ptrs.push_back(pbias);
    ptrs.push_back(pc);
    run(op, ptrs);
    return str(env, op.impl);
  });
}

// sum(x, y, geometry[3]): geometry = outer, inner, axis (0: sum the outer rows of X[outer, inner]
// to [inner], a bias gradient; 1: sum each row to [outer]). As a matmul with a ones vector: oneDNN's
// brgemm streams X once at full width, where its reduction primitive runs a reference loop here.
struct Ones {
  std::vector<float> v;
};
std::unordered_map<std::string, std::unique_ptr<Ones>> ones_cache;

napi_value sum_fn(napi_env env, napi_callback_info info) {
  return guarded(env, info, 3, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[2]);
    if (d.size() < 3) throw JsError{"sum geometry: 3 values expected"};
    memory::dim outer = d[0], inner = d[1];
    bool rows = d[2];
    float* x = f32(env, a[0], outer * inner, "x");
    float* y = f32(env, a[1], rows ? outer : inner, "y");
    memory::desc xmd({1, outer, inner}, dt::f32, memory::dims{outer * inner, inner, 1});
    memory::dim r = rows ? inner : outer;
    // ones as [1, 1, outer] (left operand) or [1, inner, 1] (right operand)
    memory::desc omd = rows ? memory::desc({1, inner, 1}, dt::f32, memory::dims{inner, 1, 1})
                            : memory::desc({1, 1, outer}, dt::f32, memory::dims{outer, outer, 1});
    memory::desc ymd = rows ? memory::desc({1, outer, 1}, dt::f32, memory::dims{outer, 1, 1})
                            : memory::desc({1, 1, inner}, dt::f32, memory::dims{inner, inner, 1});
    std::string key = key_of("sum", d);
    Op& op = cached(key, double(outer) * inner, [&](Op& op) {
      primitive_attr attr;
      attr.set_scratchpad_mode(scratchpad_mode::user);
      auto pd = rows ? matmul::primitive_desc(matmul::desc(xmd, omd, ymd), attr, cpu())
                     : matmul::primitive_desc(matmul::desc(omd, xmd, ymd), attr, cpu());
      op.prim = std::make_unique<matmul>(pd);
      std::vector<Arg> args;
      args.push_back({DNNL_ARG_SRC, rows ? xmd : omd, {}, true});
      args.push_back({DNNL_ARG_WEIGHTS, rows ? omd : xmd, {}, true});
      args.push_back({DNNL_ARG_DST, ymd, {}, false});
      finish(op, pd, std::move(args));
    });
    float* ones;
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      auto& o = ones_cache[std::to_string(r)];
      if (!o) o = std::make_unique<Ones>(Ones{std::vector<float>(r, 1.f)});
      ones = o->v.data();
    }
    if (rows) run(op, {x, ones, y});
    else run(op, {ones, x, y});
    return str(env, op.impl);
  });
}

// maxPool(x, y, geometry[14]): geometry as for maxPoolGrad.
napi_value max_pool(napi_env env, napi_callback_info info) {
  return guarded(env, info, 3, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[2]);
    if (d.size() < 14) throw JsError{"pool geometry: 14 values expected"};
    memory::dim n = d[0], h = d[1], w = d[2], c = d[3], kh = d[4], kw = d[5], oh = d[6], ow = d[7];
    float* x = f32(env, a[0], n * h * w * c, "x");
    float* y = f32(env, a[1], n * oh * ow * c, "y");
    memory::desc src({n, c, h, w}, dt::f32, tag::nhwc), dst({n, c, oh, ow}, dt::f32, tag::nhwc);
    Op& op = cached(key_of("maxpool", d), double(n) * h * w * c / 4, [&](Op& op) {
      primitive_attr attr;
      attr.set_scratchpad_mode(scratchpad_mode::user);
      auto pd = pooling_forward::primitive_desc(
          pooling_forward::desc(prop_kind::forward_inference, algorithm::pooling_max, src, dst, {d[8], d[9]},
                                {kh, kw}, {d[10], d[11]}, {d[12], d[13]}),
          attr, cpu());
      op.prim = std::make_unique<pooling_forward>(pd);
      finish(op, pd, {{DNNL_ARG_SRC, src, {}, true}, {DNNL_ARG_DST, dst, {}, false}});
    });
    run(op, {x, y});
    return str(env, op.impl);
  });
}

// maxPoolGrad(x, dy, dx, geometry[14]): geometry = N, H, W, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR.
// oneDNN's backward max pooling needs the forward's workspace (argmax per window), so the forward
// runs again here into buffers of its own; it costs a fraction of the backward pass it enables.
struct PoolOp {
  int threads = 1;
  std::unique_ptr<pooling_forward> fwd;
  std::unique_ptr<pooling_backward> bwd;
  memory::desc src, dst;
  std::unique_ptr<memory> y, ws, fscratch, bscratch;
  std::string impl;
};
std::unordered_map<std::string, std::unique_ptr<PoolOp>> pool_cache;

napi_value max_pool_grad(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[3]);
    if (d.size() < 14) throw JsError{"pool geometry: 14 values expected"};
    memory::dim n = d[0], h = d[1], w = d[2], c = d[3], kh = d[4], kw = d[5], oh = d[6], ow = d[7];
    memory::dims strides{d[8], d[9]}, kernel{kh, kw}, pl{d[10], d[11]}, pr{d[12], d[13]};
    float* x = f32(env, a[0], n * h * w * c, "x");
    float* dy = f32(env, a[1], n * oh * ow * c, "dy");
    float* dx = f32(env, a[2], n * h * w * c, "dx");
    PoolOp* op;
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      int threads = threads_for(double(n) * h * w * c / 4);
      auto& slot = pool_cache[key_of("maxpoolgrad", d) + "@" + std::to_string(threads)];
      if (!slot) {
        auto p = std::make_unique<PoolOp>();
        p->threads = threads;
        ThreadScope scope(p->threads);
        p->src = memory::desc({n, c, h, w}, dt::f32, tag::nhwc);
        p->dst = memory::desc({n, c, oh, ow}, dt::f32, tag::nhwc);
        primitive_attr attr;
        attr.set_scratchpad_mode(scratchpad_mode::user);
        auto fpd = pooling_forward::primitive_desc(
            pooling_forward::desc(prop_kind::forward_training, algorithm::pooling_max, p->src, p->dst, strides,
                                  kernel, pl, pr),
            attr, cpu());
        auto bpd = pooling_backward::primitive_desc(
            pooling_backward::desc(algorithm::pooling_max, p->src, p->dst, strides, kernel, pl, pr), attr, cpu(),
            fpd);
        p->fwd = std::make_unique<pooling_forward>(fpd);
        p->bwd = std::make_unique<pooling_backward>(bpd);
        p->y = std::make_unique<memory>(p->dst, cpu());
        p->ws = std::make_unique<memory>(fpd.workspace_desc(), cpu());
        p->fscratch = std::make_unique<memory>(fpd.scratchpad_desc(), cpu());
        p->bscratch = std::make_unique<memory>(bpd.scratchpad_desc(), cpu());
        p->impl = std::string(fpd.impl_info_str()) + "+" + bpd.impl_info_str();
        slot = std::move(p);
      }
      op = slot.get();
    }
    ThreadScope scope(op->threads);
    auto& s = strm();
    memory xm(op->src, cpu(), x), dym(op->dst, cpu(), dy), dxm(op->src, cpu(), dx);
    op->fwd->execute(s, {{DNNL_ARG_SRC, xm},
                         {DNNL_ARG_DST, *op->y},
                         {DNNL_ARG_WORKSPACE, *op->ws},
                         {DNNL_ARG_SCRATCHPAD, *op->fscratch}});
    op->bwd->execute(s, {{DNNL_ARG_DIFF_DST, dym},
                         {DNNL_ARG_DIFF_SRC, dxm},
                         {DNNL_ARG_WORKSPACE, *op->ws},
                         {DNNL_ARG_SCRATCHPAD, *op->bscratch}});
    s.wait();
    return str(env, op->impl);
  });
}

// channelAffine(x, s, b, y, geometry[2]): y[i, c] = x[i, c]·s[c] + b[c] for X[outer, C] (an
// inference batch norm with its statistics folded into s and b). Memory-bound: one thread unless large.
napi_value channel_affine(napi_env env, napi_callback_info info) {
  return guarded(env, info, 5, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[4]);
    if (d.size() < 2) throw JsError{"affine geometry: 2 values expected"};
    long outer = d[0], c = d[1];
    const float* x = f32(env, a[0], outer * c, "x");
    const float* sc = f32(env, a[1], c, "scale");
    const float* sh = f32(env, a[2], c, "shift");
    float* y = f32(env, a[3], outer * c, "y");
    int threads = threads_for(double(outer) * c / 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (long i = 0; i < outer; i++) {
      const float* xi = x + i * c;
      float* yi = y + i * c;
#pragma omp simd
      for (long k = 0; k < c; k++) yi[k] = xi[k] * sc[k] + sh[k];
    }
    return str(env, "affine");
  });
}

// compareScalar(x, s, out, geometry[2]): out[i] = x[i] OP s as 0/1 bytes (tfjs's bool tensors), for
// geometry = n, op (0 >, 1 >=, 2 <, 3 <=). The wasm backend broadcasts a scalar through its generic
// index path: the relu6 gradient's mask (greater(6, x)) was its slowest elementwise op.
napi_value compare_scalar(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value>& a) {
    auto d = ints(env, a[3]);
    if (d.size() < 2) throw JsError{"compare geometry: 2 values expected"};
    long n = d[0];
    int op = d[1];
    const float* x = f32(env, a[0], n, "x");
    double sv;
    if (napi_get_value_double(env, a[1], &sv) != napi_ok) throw JsError{"compare: scalar expected"};
    float s = static_cast<float>(sv);
    napi_typedarray_type type;
    size_t length;
    void* data;
    if (napi_get_typedarray_info(env, a[2], &type, &length, &data, nullptr, nullptr) != napi_ok ||
        type != napi_uint8_array || length < size_t(n))
      throw JsError{"compare: out must be a Uint8Array of n bytes"};
    auto* o = static_cast<uint8_t*>(data);
    switch (op) {
      case 0: for (long i = 0; i < n; i++) o[i] = x[i] > s; break;
      case 1: for (long i = 0; i < n; i++) o[i] = x[i] >= s; break;
      case 2: for (long i = 0; i < n; i++) o[i] = x[i] < s; break;
      case 3: for (long i = 0; i < n; i++) o[i] = x[i] <= s; break;
      default: throw JsError{"compare: unknown op"};
    }
    return str(env, "compare");
  });
}

// activationGrad(dy, y, dx, cap): dx[i] = dy[i]·[0 < y[i] < cap] (relu: cap = inf; relu6:
// 6). The gradient of a folded conv's activation post-op in one pass, from its output y.
napi_value activation_grad(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value>& a) {
    napi_typedarray_type type;
    size_t n;
    void* data;
    if (napi_get_typedarray_info(env, a[0], &type, &n, &data, nullptr, nullptr) != napi_ok ||
        type != napi_float32_array)
      throw JsError{"activationGrad: dy must be a Float32Array"};
    const float* dy = static_cast<const float*>(data);
    const float* y = f32(env, a[1], long(n), "y");
    float* dx = f32(env, a[2], long(n), "dx");
    double cv;
    if (napi_get_value_double(env, a[3], &cv) != napi_ok) throw JsError{"activationGrad: cap expected"};
    const float cap = static_cast<float>(cv);
    // A multiply by the 0/1 mask, not a select: with baseline SSE2 a select compiles to a branch that
    // mispredicts on half the elements (10x slower). NaN/inf in dy propagate as in tfjs's mul(dy, mask).
    long len = long(n), block = 1 << 16;
    int threads = threads_for(double(len) / 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (long b = 0; b < len; b += block) {
      long end = b + block < len ? b + block : len;
#pragma omp simd
      for (long i = b; i < end; i++) {
        const float v = y[i];
        dx[i] = dy[i] * static_cast<float>((v > 0.f) & (v < cap));
      }
    }
    return str(env, "activation-grad");
  });
}

// mallocTuned() → whether the addon's malloc settings (see NAPI_MODULE_INIT) took effect.
bool malloc_tuned = false;
napi_value malloc_tuned_fn(napi_env env, napi_callback_info) {
  napi_value v;
  napi_get_boolean(env, malloc_tuned, &v);
  return v;
}

// threads() → the most OpenMP threads an op runs on.
napi_value threads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, max_threads, &v);
  return v;
}

// setThreads(n): the most threads an op runs on from now on (ops built before keep theirs).
napi_value set_threads(napi_env env, napi_callback_info info) {
  return guarded(env, info, 1, [&](std::vector<napi_value>& a) {
    int32_t n;
    if (napi_get_value_int32(env, a[0], &n) != napi_ok || n < 1) throw JsError{"setThreads: a positive integer"};
    std::lock_guard<std::mutex> lock(cache_mutex);
    max_threads = n;
    return a[0];
  });
}

}  // namespace

NAPI_MODULE_INIT() {
#ifdef __GLIBC__
  // Freed buffers up to 32 MB stay in the process instead of going back to the kernel: tensor
  // read-backs (a 4.8 MB input gradient) allocate a fresh ArrayBuffer each time, and on VMs where a
  // page fault costs ~10 µs, faulting its pages back in took 12-18 ms against 0.3 ms reused.
  malloc_tuned = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 128 << 20) == 1;
#endif
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {{"conv2d", conv2d},
             {"depthwise2d", depthwise2d},
             {"conv2dBackpropFilter", conv2d_backprop_filter},
             {"conv2dBackpropInput", conv2d_backprop_input},
             {"depthwiseBackpropInput", depthwise_backprop_input},
             {"depthwiseBackpropFilter", depthwise_backprop_filter},
             {"matmul", matmul_fn},
             {"sum", sum_fn},
             {"maxPool", max_pool},
             {"channelAffine", channel_affine},
             {"compareScalar", compare_scalar},
             {"activationGrad", activation_grad},
             {"maxPoolGrad", max_pool_grad},
             {"mallocTuned", malloc_tuned_fn},
             {"threads", threads},
             {"setThreads", set_threads}};
  for (const auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  return exports;
}
