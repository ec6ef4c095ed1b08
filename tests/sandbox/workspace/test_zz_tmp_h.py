from hypothesis import given, strategies as st
@given(st.integers(0, 10))
def test_h(x):
    pass
