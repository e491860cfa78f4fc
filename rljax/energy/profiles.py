"""Realistic household days, drawn per episode from a key: demand, solar, import and export
prices hour by hour, and the noisy forecasts an operator would have of them.

Everything is a pure function of ``(episode_key, hour)``: a day's draws (weather, season,
household scale, tariff) come from ``fold_in(episode_key, day)`` and an hour's noise from
``fold_in(day_key, hour)``, so any hour of a week can be computed on its own (no arrays of a
static length in the environment's state), a batch of days is a ``vmap`` over keys, and a fixed
list of keys is a fixed set of held-out days. :func:`hourly_values` gives all hours at once,
for the perfect-foresight optimum.

The model, per day (parameters in :class:`DayParams`; the defaults are a household at about
50° N with a 5 kWp roof and a 13.5 kWh battery):

- **season**: the day of the year, uniform in ``[first_day, last_day]`` (day 0 = 1 January);
  it sets the day length (``daylight_winter`` to ``daylight_summer`` hours, centred on 13:00)
  and the solar strength (``winter_solar`` of the summer's), and adds heating load in winter;
- **weather**: clear (``p_clear``), cloudy (``p_cloudy``) or mixed; clear days keep 85-100 % of
  the clear-sky output, cloudy ones 10-35 %, mixed ones draw every hour's share in 10-100 %;
- **demand**: a household curve (night base, morning and evening peaks) times the household's
  ``scale`` (uniform in ``[scale_min, scale_max]``), the winter heating, and log-normal noise
  per hour (``demand_noise``);
- **tariff**: two-rate time of use (``offpeak_price``, ``peak_price`` from ``peak_start`` to
  ``peak_end``) or a real-time price (a day-ahead curve, cheap at midday and dear in the
  evening, with log-normal noise and spikes of ``spike_low``-``spike_high`` times the price in
  hours drawn with ``spike_prob``); ``p_realtime`` of the days are real-time. Prices are capped
  at ``price_cap`` (the unmet-demand penalty must stay above every price);
- **export**: ``feed_in_price`` per exported kWh, never above the hour's import price.

Forecasts (:func:`forecast`): the value ``lead`` hours ahead times ``1 + forecast_error *
sqrt(lead) * eps`` (``eps`` standard normal, fresh for every hour the forecast is made), so the
next hour is known well and tomorrow evening badly; lead 0 is the true value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

WEATHER_CLEAR, WEATHER_CLOUDY, WEATHER_MIXED = 0, 1, 2
TARIFF_TIME_OF_USE, TARIFF_REAL_TIME = 0, 1


@struct.dataclass
class DayParams:
    """How days are drawn (float32 scalars; a batch of distributions is a ``vmap``)."""

    first_day: float = 0.0  # of the year, inclusive
    last_day: float = 364.0
    daylight_winter: float = 8.0  # hours of daylight at the winter solstice
    daylight_summer: float = 16.0
    winter_solar: float = 0.3  # clear-sky output at the winter solstice, share of summer's
    pv_peak: float = 3.5  # [kW] at summer noon, clear sky (a 5 kWp roof after its losses)
    p_clear: float = 0.45
    p_cloudy: float = 0.25  # mixed: the rest
    scale_min: float = 0.6  # household demand scale
    scale_max: float = 1.6
    heating: float = 0.5  # extra demand share at midwinter
    demand_noise: float = 0.25  # log-normal std per hour
    offpeak_price: float = 0.15  # [$ / kWh]
    peak_price: float = 0.40
    peak_start: float = 16.0  # peak tariff for peak_start <= hour of day < peak_end
    peak_end: float = 21.0
    p_realtime: float = 0.5
    price_noise: float = 0.2  # log-normal std per hour of real-time prices
    spike_prob: float = 0.03
    spike_low: float = 3.0
    spike_high: float = 10.0
    price_cap: float = 4.0  # [$ / kWh]
    feed_in_price: float = 0.05  # [$ / kWh]
    forecast_error: float = 0.1  # relative std one hour ahead, growing with sqrt(lead)


class Day(struct.PyTreeNode):
    """One day's draws (scalars)."""

    day_of_year: jax.Array
    weather: jax.Array  # int32: WEATHER_*
    clearness: jax.Array  # share of clear-sky output (clear and cloudy days)
    scale: jax.Array  # household demand scale
    tariff: jax.Array  # int32: TARIFF_*


class Hour(struct.PyTreeNode):
    """One hour's values (scalars; ``[H]`` from :func:`hourly_values`)."""

    demand: jax.Array  # [kWh] in the hour
    solar: jax.Array  # [kWh]
    import_price: jax.Array  # [$ / kWh]
    export_price: jax.Array  # [$ / kWh], <= import_price
    real_time: jax.Array  # bool: the day's tariff is real-time (else time of use, known ahead)


def draw_day(key: jax.Array, params: DayParams) -> Day:
    """The draws of the day whose key is ``key`` (``fold_in(episode_key, day)``)."""
    # One call of the generator for the day's five numbers: every call is a threefry hash in
    # the compiled program, and environments step through this function every hour.
    u_season, u_weather, u_clear, u_scale, u_tariff = jax.random.uniform(key, (5,))
    weather = jnp.where(
        u_weather < params.p_clear,
        WEATHER_CLEAR,
        jnp.where(u_weather < params.p_clear + params.p_cloudy, WEATHER_CLOUDY, WEATHER_MIXED),
    ).astype(jnp.int32)
    clearness = jnp.where(weather == WEATHER_CLEAR, 0.85 + 0.15 * u_clear, 0.10 + 0.25 * u_clear)
    real_time = u_tariff < params.p_realtime
    season_span = params.last_day + 1e-3 - params.first_day
    return Day(
        day_of_year=params.first_day + season_span * u_season,
        weather=weather,
        clearness=clearness,
        scale=params.scale_min + (params.scale_max - params.scale_min) * u_scale,
        tariff=jnp.where(real_time, TARIFF_REAL_TIME, TARIFF_TIME_OF_USE).astype(jnp.int32),
    )


def household_curve(hour_of_day: jax.Array) -> jax.Array:
    """A household's mean demand [kW] at ``hour_of_day`` (float, 0-24): 0.22 kW at night, a
    morning peak near 07:30 and a larger evening one near 19:00 (about 11 kWh a day)."""
    bump = lambda centre, width: jnp.exp(-0.5 * jnp.square((hour_of_day - centre) / width))
    return 0.22 + 0.45 * bump(7.5, 1.2) + 0.15 * bump(13.0, 2.5) + 0.8 * bump(19.0, 1.8)


def day_ahead_curve(hour_of_day: jax.Array) -> jax.Array:
    """A real-time market's expected price [$/kWh]: 0.14 at night, 0.07 at midday (solar
    surplus), 0.45 in the evening ramp (the "duck curve")."""
    bump = lambda centre, width: jnp.exp(-0.5 * jnp.square((hour_of_day - centre) / width))
    return 0.14 - 0.07 * bump(13.0, 2.5) + 0.31 * bump(19.0, 1.5)


def hour_values(episode_key: jax.Array, hour: jax.Array, params: DayParams) -> Hour:
    """The true values of hour ``hour`` (int32, counted from the episode's start at midnight)."""
    day_key = jax.random.fold_in(episode_key, hour // 24)
    day = draw_day(day_key, params)
    # The hour's five numbers in one call (see draw_day); the two normals by the inverse CDF.
    u_demand, u_cloud, u_price, u_spike, u_size = jax.random.uniform(
        jax.random.fold_in(day_key, hour % 24), (5,), minval=1e-7, maxval=1.0 - 1e-7
    )
    normal = lambda u: jnp.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * u - 1.0)
    hour_of_day = (hour % 24).astype(jnp.float32) + 0.5  # the hour's middle
    # Season: 0 at midwinter (day 355), 1 at midsummer.
    summer = 0.5 - 0.5 * jnp.cos(2 * jnp.pi * (day.day_of_year + 10.0) / 365.0)
    daylight = params.daylight_winter + (params.daylight_summer - params.daylight_winter) * summer
    # Positive from sunrise to sunset only (the sine would rise again before dawn).
    from_sunrise = hour_of_day - (13.0 - daylight / 2)
    sun = jnp.where(
        (from_sunrise > 0) & (from_sunrise < daylight),
        jnp.sin(jnp.pi * from_sunrise / daylight),
        0.0,
    )
    strength = params.winter_solar + (1.0 - params.winter_solar) * summer
    mixed_share = 0.10 + 0.90 * u_cloud
    clearness = jnp.where(day.weather == WEATHER_MIXED, mixed_share, day.clearness)
    solar = params.pv_peak * strength * clearness * jnp.maximum(sun, 0.0)

    heating = 1.0 + params.heating * (1.0 - summer)
    noise = jnp.exp(params.demand_noise * normal(u_demand) - params.demand_noise**2 / 2)
    demand = household_curve(hour_of_day) * day.scale * heating * noise

    peak = (hour_of_day >= params.peak_start) & (hour_of_day < params.peak_end)
    time_of_use = jnp.where(peak, params.peak_price, params.offpeak_price)
    price_noise = jnp.exp(params.price_noise * normal(u_price))
    spike = u_spike < params.spike_prob
    spike_size = params.spike_low + (params.spike_high - params.spike_low) * u_size
    real_time = day_ahead_curve(hour_of_day) * price_noise * jnp.where(spike, spike_size, 1.0)
    price = jnp.where(day.tariff == TARIFF_REAL_TIME, real_time, time_of_use)
    price = jnp.minimum(price, params.price_cap)
    as_f32 = lambda x: jnp.asarray(x, jnp.float32)
    return Hour(
        demand=as_f32(demand),
        solar=as_f32(solar),
        import_price=as_f32(price),
        export_price=as_f32(jnp.minimum(params.feed_in_price, price)),
        real_time=day.tariff == TARIFF_REAL_TIME,
    )


def hourly_values(episode_key: jax.Array, hours: int, params: DayParams) -> Hour:
    """Every hour's true values, ``[hours]`` each (perfect foresight)."""
    return jax.vmap(lambda h: hour_values(episode_key, h, params))(jnp.arange(hours))


def forecast(
    episode_key: jax.Array, now: jax.Array, leads: int, params: DayParams
) -> tuple[jax.Array, jax.Array]:
    """What is forecast at hour ``now`` for hours ``now .. now + leads - 1``: net load
    (demand - solar) [kWh] and import price [$/kWh], ``[leads]`` each. Lead 0 is exact; each
    later one has relative errors of std ``forecast_error * sqrt(lead)`` on demand, solar and
    real-time prices (time-of-use prices are known), drawn afresh for every ``now`` (forecasts
    are revised as the day goes on)."""
    lead = jnp.arange(leads)
    truth = jax.vmap(lambda h: hour_values(episode_key, h, params))(now + lead)
    # A stream apart from the days' (day indices never reach 2**31 - 1).
    noise_key = jax.random.fold_in(jax.random.fold_in(episode_key, 2**31 - 1), now)
    eps = jax.random.normal(noise_key, (3, leads))
    spread = params.forecast_error * jnp.sqrt(lead.astype(jnp.float32))
    factor = jnp.maximum(1.0 + spread * eps, 0.0)
    net_load = truth.demand * factor[0] - truth.solar * factor[1]
    # A time-of-use tariff is published: only real-time prices are forecast.
    price_factor = jnp.where(truth.real_time, factor[2], 1.0)
    price = jnp.minimum(truth.import_price * price_factor, params.price_cap)
    return net_load.astype(jnp.float32), price.astype(jnp.float32)


# The held-out days: a fixed seed apart from any training run's keys.
EVALUATION_SEED = 20_261_203


def evaluation_keys(num: int) -> jax.Array:
    """``num`` reset keys ``[num]`` of the fixed held-out days (or weeks) every evaluation and
    benchmark uses: the same days on every machine and in every run, and the first ``k`` of
    ``evaluation_keys(n)`` are ``evaluation_keys(k)``."""
    base = jax.random.key(EVALUATION_SEED)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(num))
