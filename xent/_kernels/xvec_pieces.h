/* xvec_pieces.h -- xvec.h's 64-byte vector types as two 32-byte pieces, for the AVX2 variant
 * compiled as C++ (kernels_avx2.cpp).
 *
 * GCC compiles a 64-byte GCC vector on a CPU without AVX-512 by splitting each operation into
 * pieces, but the vector itself has no register: it lives in memory, and every operation loads
 * and stores its pieces (the AVX2 variant ran at 4-6x the AVX-512 one's time, 71 % of its
 * samples on instructions that touch the stack). A struct of register-wide GCC vectors is kept
 * in registers, and C++'s operators let body.h, kl.h and xvec.h use it exactly as they use the
 * GCC vector of the C builds: each operator is GCC's own on every piece, lane by lane, in the
 * same order, so every variant still gives the same bits (the tests compare them). The AVX2
 * variant's kernels took 0.24-0.5x their time as C (harness, one thread: 1,024 x 1,000 float32
 * 4.72 -> 1.13 ns per entry; 65,536 x 10 8.52 -> 3.46; float64 7.41 -> 1.94). The SSE2 baseline
 * is left in C: as C++ with four 16-byte pieces it was faster for float rows and slower for
 * double ones, at twice the compile time.
 *
 * What the C vectors do and these types reproduce: the arithmetic, bit and shift operators
 * between two vectors or a vector and a scalar (converted to the lanes' type), comparisons (a
 * signed integer vector of the lanes' width, all ones where true), compound assignments,
 * reading and writing a lane with v[l], initialization from a list of lanes (the missing ones
 * 0), casts between vector types as bit copies, and GCC's conversions and shuffles (XV_CONVERT,
 * XV_SHUFFLE: __builtin_convertvector and __builtin_shufflevector in the C builds).
 */
#ifndef XVEC_PIECES_H
#define XVEC_PIECES_H
#include <stdint.h>
#include <string.h>

#include <type_traits>
#include <utility>

/* a piece's bytes: a ymm register */
#define XV_PIECE 32

/* the signed integer of n bytes: the lanes of a comparison's result */
template <int n> struct xv_sint;
template <> struct xv_sint<4> {
    typedef int32_t type;
};
template <> struct xv_sint<8> {
    typedef int64_t type;
};

#define XV_PIECES_LOOP _Pragma("GCC unroll 4") for (int k = 0; k < K; k++)

/* a vector of lanes E (64 bytes) as K register-wide GCC vectors */
template <class E> struct xv_pieces {
    typedef E elem;
    typedef E piece __attribute__((vector_size(XV_PIECE)));
    typedef xv_pieces<typename xv_sint<sizeof(E)>::type> mask;
    enum { N = 64 / sizeof(E), K = 64 / XV_PIECE, L = XV_PIECE / sizeof(E) };
    piece h[K];

    xv_pieces() = default;
    /* {a, b, ...}: the lanes given, the others 0 (C's rule for a vector's initializer) */
    template <class... A> xv_pieces(E a0, A... rest)
    {
        static_assert(sizeof...(A) < N, "more initializers than lanes");
        const E l[N] = {a0, static_cast<E>(rest)...};
        XV_PIECES_LOOP memcpy(&h[k], l + k * L, sizeof h[k]);
    }
    static xv_pieces splat(E v)
    {
        xv_pieces r;
        XV_PIECES_LOOP
        {
            r.h[k] = piece{};
            for (int j = 0; j < L; j++) r.h[k][j] = v;
        }
        return r;
    }
    /* from memory and to it, a piece at a time */
    static xv_pieces load(const E *p)
    {
        xv_pieces r;
        XV_PIECES_LOOP memcpy(&r.h[k], p + k * L, sizeof r.h[k]);
        return r;
    }
    void store(E *p) const { XV_PIECES_LOOP memcpy(p + k * L, &h[k], sizeof h[k]); }
    /* (T)v between vector types: the same bits (as GCC's vector casts) */
    template <class E2> explicit xv_pieces(const xv_pieces<E2> &o)
    {
        static_assert(sizeof o == sizeof *this, "a vector cast keeps the size");
        XV_PIECES_LOOP h[k] = (piece)o.h[k];
    }
    /* lane i, to read (a const vector) or to write (through memory) */
    E operator[](int i) const { return h[i / L][i % L]; }
    typedef E lane_ref __attribute__((may_alias));
    lane_ref &operator[](int i) { return reinterpret_cast<lane_ref *>(h)[i]; }

#define XV_PIECES_BINARY(op)                                                                  \
    friend xv_pieces operator op(xv_pieces a, const xv_pieces &b)                            \
    {                                                                                         \
        XV_PIECES_LOOP a.h[k] = a.h[k] op b.h[k];                                             \
        return a;                                                                             \
    }                                                                                         \
    friend xv_pieces operator op(xv_pieces a, E s)                                            \
    {                                                                                         \
        XV_PIECES_LOOP a.h[k] = a.h[k] op s;                                                  \
        return a;                                                                             \
    }                                                                                         \
    friend xv_pieces operator op(E s, xv_pieces b)                                            \
    {                                                                                         \
        XV_PIECES_LOOP b.h[k] = s op b.h[k];                                                  \
        return b;                                                                             \
    }                                                                                         \
    xv_pieces &operator op##=(const xv_pieces &b)                                             \
    {                                                                                         \
        XV_PIECES_LOOP h[k] = h[k] op b.h[k];                                                 \
        return *this;                                                                         \
    }                                                                                         \
    xv_pieces &operator op##=(E s)                                                            \
    {                                                                                         \
        XV_PIECES_LOOP h[k] = h[k] op s;                                                      \
        return *this;                                                                         \
    }
    /* (the integer operators exist for every lane type, as declarations: a friend's body is
       compiled only where it is used) */
    XV_PIECES_BINARY(+)
    XV_PIECES_BINARY(-)
    XV_PIECES_BINARY(*)
    XV_PIECES_BINARY(/)
    XV_PIECES_BINARY(&)
    XV_PIECES_BINARY(|)
    XV_PIECES_BINARY(^)
    XV_PIECES_BINARY(<<)
    XV_PIECES_BINARY(>>)
#undef XV_PIECES_BINARY

#define XV_PIECES_COMPARE(op)                                                                 \
    friend mask operator op(const xv_pieces &a, const xv_pieces &b)                          \
    {                                                                                         \
        mask r;                                                                               \
        XV_PIECES_LOOP r.h[k] = (typename mask::piece)(a.h[k] op b.h[k]);                     \
        return r;                                                                             \
    }                                                                                         \
    friend mask operator op(const xv_pieces &a, E s)                                          \
    {                                                                                         \
        mask r;                                                                               \
        XV_PIECES_LOOP r.h[k] = (typename mask::piece)(a.h[k] op s);                          \
        return r;                                                                             \
    }
    XV_PIECES_COMPARE(<)
    XV_PIECES_COMPARE(<=)
    XV_PIECES_COMPARE(>)
    XV_PIECES_COMPARE(>=)
    XV_PIECES_COMPARE(==)
    XV_PIECES_COMPARE(!=)
#undef XV_PIECES_COMPARE

    friend xv_pieces operator-(xv_pieces a)
    {
        XV_PIECES_LOOP a.h[k] = -a.h[k];
        return a;
    }
    friend xv_pieces operator~(xv_pieces a)
    {
        XV_PIECES_LOOP a.h[k] = ~a.h[k];
        return a;
    }
};
#undef XV_PIECES_LOOP

typedef xv_pieces<double> xv_d;
typedef xv_pieces<int64_t> xv_i;
typedef xv_pieces<uint64_t> xv_u;
typedef xv_pieces<float> xv_s;
typedef xv_pieces<int32_t> xv_si;
typedef xv_pieces<uint32_t> xv_su;

/* the lanes' type of a vector (GCC's or xv_pieces), and the vector of n such lanes: xv_pieces
 * for 64 bytes, a GCC vector below */
template <class V> using xv_elem_t =
    typename std::remove_cv<typename std::remove_reference<decltype(std::declval<const V &>()[0])>::type>::type;
template <class E, int n, bool whole = n * sizeof(E) == 64> struct xv_vector_of {
    typedef xv_pieces<E> type;
};
template <class E, int n> struct xv_vector_of<E, n, false> {
    typedef E type __attribute__((vector_size(n * sizeof(E))));
};

template <class V> struct xv_is_pieces : std::false_type {};
template <class E> struct xv_is_pieces<xv_pieces<E>> : std::true_type {};

/* lanes off, off + 1, ... of the GCC vector v, and GCC vectors one after the other */
template <int off, class V, size_t... J> static inline __attribute__((always_inline)) auto
xv_lanes(const V &v, std::index_sequence<J...>)
{
    return __builtin_shufflevector(v, v, (off + (int)J)...);
}
template <class A, size_t... J> static inline __attribute__((always_inline)) auto
xv_concat(const A &a, const A &b, std::index_sequence<J...>)
{
    return __builtin_shufflevector(a, b, (int)J...);
}

/* __builtin_convertvector(v, To): each lane converted (C's conversion of its type), a piece at
 * a time; one side may be a GCC vector of as many lanes (float <-> double lanes, int32 ->
 * int64: its lanes taken or joined by shuffles) */
template <class To, class From, size_t... K> static inline __attribute__((always_inline)) To
xv_convert_into(const From &v, std::index_sequence<K...>)
{
    To r;
    if constexpr (xv_is_pieces<From>::value)
        ((r.h[K] = __builtin_convertvector(v.h[K], typename To::piece)), ...);
    else
        ((r.h[K] = __builtin_convertvector(
              xv_lanes<K * To::L>(v, std::make_index_sequence<To::L>()), typename To::piece)),
         ...);
    return r;
}
template <class To, class From> static inline __attribute__((always_inline)) To
xv_convert(const From &v)
{
    if constexpr (xv_is_pieces<To>::value) {
        static_assert(sizeof(From) / sizeof(xv_elem_t<From>) == To::N, "the same lanes");
        return xv_convert_into<To>(v, std::make_index_sequence<To::K>());
    } else {
        static_assert(xv_is_pieces<From>::value, "a conversion of pieces");
        typedef xv_elem_t<To> ET;
        typedef ET sub __attribute__((vector_size(From::L * sizeof(ET))));
        sub c[From::K];
        _Pragma("GCC unroll 4") for (int k = 0; k < From::K; k++)
            c[k] = __builtin_convertvector(v.h[k], sub);
        static_assert(From::K == 2, "two pieces");
        return xv_concat(c[0], c[1], std::make_index_sequence<2 * From::L>());
    }
}
#define XV_CONVERT(v, T) xv_convert<T>(v)

/* __builtin_shufflevector(a, b, i...): lane j of the result is lane i_j of a's lanes followed
 * by b's */
template <class V, class... I> static inline __attribute__((always_inline)) auto
xv_shuffle(const V &a, const V &b, I... idx) ->
    typename xv_vector_of<xv_elem_t<V>, sizeof...(I)>::type
{
    typedef typename xv_vector_of<xv_elem_t<V>, sizeof...(I)>::type R;
    constexpr int n = sizeof(V) / sizeof(xv_elem_t<V>);
    return R{(idx < n ? a[idx] : b[idx - n])...};
}
#define XV_SHUFFLE(a, b, ...) xv_shuffle(a, b, __VA_ARGS__)

/* xvec.h's AVX2 branch: a vector as its two halves (intrinsics' types), and back */
template <class H, class V> static inline __attribute__((always_inline)) void
xv_split(H *out, const V &v)
{
    static_assert(V::K == 2, "two halves");
    out[0] = (H)v.h[0];
    out[1] = (H)v.h[1];
}
template <class V, class H> static inline __attribute__((always_inline)) V xv_join(const H *in)
{
    static_assert(V::K == 2, "two halves");
    V r;
    r.h[0] = (typename V::piece)in[0];
    r.h[1] = (typename V::piece)in[1];
    return r;
}
#define XV_HALVES(H, v) xv_split(H, v)
#define XV_JOIN(T, H) xv_join<T>(H)
#endif
